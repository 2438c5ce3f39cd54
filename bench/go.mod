module github.com/amberrt/amber/bench

go 1.26

replace github.com/amberrt/amber => ../
