module switchyard.local/bench/go-proxy

go 1.22
