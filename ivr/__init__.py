"""The phone hotline: FastAGI server, menu engine, call flows, AMI adapter."""
