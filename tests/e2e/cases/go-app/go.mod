module example.com/fib

go 1.19
