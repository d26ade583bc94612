from inference_gateway._entry import main

main()
