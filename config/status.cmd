# vstop console script: what a person looks at first. Run with
#   vstop <EAL args> -- --vhost /tmp/a.sock --cmdline-file config/status.cmd
show port info all
show queue map
show lcores
show fwd
show device status 0
