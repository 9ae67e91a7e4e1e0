from mockserver.spark_mock import main

raise SystemExit(main())
