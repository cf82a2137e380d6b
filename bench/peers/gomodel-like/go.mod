module switchyard.local/bench/gomodel-like

go 1.22
