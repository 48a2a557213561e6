from clipgallery.cli import main

raise SystemExit(main())
