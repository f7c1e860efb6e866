module github.com/kansa-audit/kansa/audit

go 1.26
