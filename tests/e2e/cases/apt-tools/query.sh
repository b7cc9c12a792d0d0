#!/bin/sh
# prints the names of the packages in the bundled inventory, sorted
echo '{"packages":[{"name":"zlib"},{"name":"curl"},{"name":"bash"}]}' | jq -r '.packages[].name' | sort
