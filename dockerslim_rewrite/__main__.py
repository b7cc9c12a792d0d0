from .cli import run

if __name__ == "__main__":  # worker processes (spawned) import this module too: they must not run the CLI
    run()
