from deplat.cli import main

main()
