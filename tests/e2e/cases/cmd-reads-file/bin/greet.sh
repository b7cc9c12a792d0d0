#!/bin/sh
# the banner lives in docs/ and is only ever read at run time
cat /opt/greeter/docs/banner.txt
echo "hello, ${1:-world}"
