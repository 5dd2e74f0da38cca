from minescope.cli import main

main()
