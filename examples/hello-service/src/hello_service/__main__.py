import sys

from hello_service.server import main

sys.exit(main())
