module github.com/tollgate/tollgate/bench/loadgen

go 1.26
