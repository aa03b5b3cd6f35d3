# vstop console script: stop port 0, save its device state (M1) to a file, resume it.
# Needs a front end that brought the device up (DRIVER_OK), e.g. dpdk-testpmd with
# --vdev net_virtio_user0,path=<the socket>.
device stop 0
show device status 0
device save 0 /tmp/vstop-port0.state
device resume 0
show device status 0
