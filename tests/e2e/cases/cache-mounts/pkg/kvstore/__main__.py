from kvstore import demo

print(demo())
