import fastsum

for n in (10, 1000, 100000):
    print(n, fastsum.sumsq(n))
