from nfc_hospital.cli import main

raise SystemExit(main())
