import sys

from .lifeline import die_with_launcher

die_with_launcher()  # before the CLI imports torch: a rank whose torchrun is gone does not train on

from .cli import main  # noqa: E402

sys.exit(main())
