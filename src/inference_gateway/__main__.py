from inference_gateway.cli import main

main()
