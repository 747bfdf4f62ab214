from edge_time.cli import main

main()
