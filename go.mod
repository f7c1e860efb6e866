module github.com/kansa-audit/kansa

go 1.26
