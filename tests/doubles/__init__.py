"""Test doubles: real-protocol stand-ins for the servers Parley talks to."""
