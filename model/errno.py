"""Error codes as the model stores them (one byte each; 0 is success)."""

ERRNO = {
    "ENOENT": 1,
    "EOPNOTSUPP": 2,
    "ETIMEDOUT": 3,  # rqspinlock: timeout
    "EDEADLK": 4,  # rqspinlock: AA / ABBA deadlock detected
    "EAGAIN": 5,
    "EEXIST": 6,
    "ENOMEM": 7,
    "EINVAL": 8,
    "EPERM": 9,
}
ERRNO_NAME = {v: k for k, v in ERRNO.items()}

ENOENT = ERRNO["ENOENT"]
EOPNOTSUPP = ERRNO["EOPNOTSUPP"]
ETIMEDOUT = ERRNO["ETIMEDOUT"]
EDEADLK = ERRNO["EDEADLK"]
EAGAIN = ERRNO["EAGAIN"]
EEXIST = ERRNO["EEXIST"]
ENOMEM = ERRNO["ENOMEM"]


def errname(code: int) -> str:
    return "0" if code == 0 else f"-{ERRNO_NAME.get(code, code)}"
