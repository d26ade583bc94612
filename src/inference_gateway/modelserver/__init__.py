"""modelserver"""
