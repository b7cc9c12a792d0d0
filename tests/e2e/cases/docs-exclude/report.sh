#!/bin/sh
# summarises a bundled inventory with jq, and shows which tool versions the image has
set -e
echo '{"packages":[{"name":"zlib"},{"name":"curl"},{"name":"git"}]}' | jq -r '.packages[].name' | sort
curl --version | head -n1 | cut -d' ' -f1-2
git --version
