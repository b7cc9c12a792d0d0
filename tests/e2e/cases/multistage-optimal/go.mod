module example.com/rot13

go 1.19
