from contract_tests.spark_contract import main

raise SystemExit(main())
