"""placeholder"""
exec_endpoint = None
