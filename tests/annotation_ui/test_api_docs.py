"""The API docs in the browser on a closed network: Swagger UI and Redoc come from our own static files."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_swagger_ui_renders_the_schema_offline(page, engineer):
    page.login("eng")
    tab = page.tab
    page.goto("/api/docs/")
    tab.wait_for_selector(".swagger-ui .info .title")
    assert "3D data engine API" in tab.inner_text(".swagger-ui .info .title")
    tab.wait_for_selector(".opblock-summary-path")
    paths = tab.locator(".opblock-summary-path").all_inner_texts()
    assert "/api/tasks/claim/" in paths and "/api/checkpoints/" in paths
    loaded = tab.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in url for url in loaded)
    page.screenshot("api-docs-swagger")
    page.assert_no_js_errors()  # among them, any request to another origin (a CDN, the online validator)


def test_redoc_renders_the_schema_offline(page, engineer):
    page.login("eng")
    tab = page.tab
    page.goto("/api/redoc/")
    tab.wait_for_selector("h1")
    assert "3D data engine API" in tab.inner_text("h1")
    tab.wait_for_function("document.body.innerText.includes('/api/tasks/claim/')")
    page.screenshot("api-docs-redoc")
    page.assert_no_js_errors()
