from vtaref.cli import main

main()
