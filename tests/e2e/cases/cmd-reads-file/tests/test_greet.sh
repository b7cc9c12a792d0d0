#!/bin/sh
out=$(sh bin/greet.sh you) && echo "$out" | grep -q "hello, you"
