"""requestcontrol"""
