// The dashboard's review list: Accept or Reject a flagged submit through the API, then refresh the figures.
// One listener on the document, so the rows the dashboard's refresh swaps in answer too.
import { api, banner } from 'ui/common.js';

document.addEventListener('click', async (event) => {
  const button = event.target.closest('button[data-review]');
  if (!button) return;
  const decision = button.dataset.review, id = button.dataset.flagId;
  const row = button.closest('tr');
  row.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  try {
    const flag = await api('POST', `/api/review/${id}/`, { decision });
    const did = flag.outcome && flag.outcome.task_created ? ` (task ${flag.outcome.task_created} opened)` : '';
    banner(`${flag.stage} task ${flag.task} by ${flag.user}: ${flag.status}${did}.`, 'info');
    row.remove();
    if (window.__dashboard) await window.__dashboard.refresh();
  } catch (err) {
    row.querySelectorAll('button').forEach((b) => { b.disabled = false; });
    banner(`Could not ${decision} the flag of ${row.textContent.trim().split('\n')[0]}: ${err.message}`, 'error');
  }
});
