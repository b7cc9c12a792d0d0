"""A tiny app for the dslim example."""

print("hello from the example app")
