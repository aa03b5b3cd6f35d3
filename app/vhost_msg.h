/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_VHOST_MSG_H
#define VSTOP_VHOST_MSG_H

/*
 * The extern vhost-user message hook (rte_vhost_extern_callback_register): status
 * (SET/GET_STATUS), the stop features, GET_VRING_BASE, RESET_OWNER, GET_QUEUE_NUM and
 * device state (SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE).
 */

#include <rte_vhost.h>

extern struct rte_vhost_user_extern_ops vhost_msg_ops;

#endif /* VSTOP_VHOST_MSG_H */
