# The operator pages' one time format, seconds and zone included (the admin's detail pages use it):
# 2026-12-02 17:50:59 UTC, as operator_format.utc writes it.
DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
DATE_FORMAT = "Y-m-d"
