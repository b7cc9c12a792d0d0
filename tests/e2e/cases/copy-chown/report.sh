#!/bin/sh
# owner of the data and a checksum of it: both must survive the rewrite
stat -c '%U:%G %n' data/cities.csv report.sh
sha256sum data/cities.csv | cut -c1-16
wc -l < data/cities.csv
