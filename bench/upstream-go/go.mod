module switchyard.local/bench/upstream-go

go 1.22
