"""``python -m bus.router``: run one router from the environment's settings."""

from bus.router.service import main

if __name__ == "__main__":
    main()
