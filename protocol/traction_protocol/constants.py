# Named codes shared by board and host. Each table is (code, NAME, meaning); SPEC.md lists them.

STATES = (
    (1, "IDLE", "no session; motor disabled"),
    (2, "READY", "session set up (SETUP and all PHASEs received); motor disabled"),
    (3, "RUNNING", "treatment in progress"),
    (4, "PAUSED", "force held at its current value, treatment timer frozen"),
    (5, "RELEASING", "gradual release after STOP or the end of treatment; then IDLE"),
    (6, "FAULT", "a fault latched; force released; cleared only by CLEAR_FAULT once the cause is gone"),
    (7, "SERVICE", "provisioning and calibration allowed; entered only with the service jumper present"),
)

MODES = (
    (1, "STATIC", "ramp to force, hold for the phase duration"),
    (2, "INTERMITTENT", "ramp up, hold, ramp down to base, rest; repeat until the duration ends"),
    (3, "CYCLIC", "as intermittent, for exactly `repeats` cycles"),
    (4, "PROGRESSIVE", "`steps` equal steps from base up to force, each held duration/steps"),
    (5, "REGRESSIVE", "`steps` equal steps from force down towards base, each held duration/steps"),
)

REGIONS = (
    (1, "CERVICAL", "neck"),
    (2, "LUMBAR", "lower back"),
)

SEGMENTS = (
    (0, "NONE", "no phase running"),
    (1, "RAMP_UP", "force rising to the traction force"),
    (2, "HOLD", "at traction force"),
    (3, "RAMP_DOWN", "force falling to the base force"),
    (4, "REST", "at base force"),
    (5, "STEP", "holding a progressive or regressive step"),
    (6, "RELEASE", "final or fault release towards zero"),
)

ERRORS = (
    (1, "BAD_STATE", "the command is not accepted in the board's current state"),
    (2, "OUT_OF_RANGE", "a field is outside the range the catalogue gives"),
    (3, "OVER_LIMIT", "a force is above the effective limit (device, region or session maximum)"),
    (4, "NOT_CALIBRATED", "no load-cell calibration is stored; the board refuses to pull"),
    (5, "NO_SETUP", "START before SETUP and every PHASE were received, or phases inconsistent"),
    (6, "CAUSE_PRESENT", "CLEAR_FAULT while the fault's cause is still present or force not released"),
    (7, "STOP_SWITCH", "the patient stop switch is pressed"),
    (8, "NOT_SERVICE", "a service command outside SERVICE state"),
    (9, "NO_JUMPER", "SERVICE_ENTER without the service jumper present"),
    (10, "UNKNOWN_RECORD", "no record with that id on the board"),
    (11, "LIMIT_RAISE", "PROVISION would raise a provisioned limit"),
    (12, "UNKNOWN_TYPE", "the board does not know this message type"),
    (13, "BAD_LENGTH", "the payload length does not match the message type"),
    (14, "STORE_FULL", "the board's file store cannot hold another record"),
    (15, "UNSUPPORTED_VERSION", "the frame's protocol version is not spoken by the board"),
    (16, "NOT_TENSIONED", "the command needs force on the line (e.g. TARE needs none)"),
    (17, "PLAN_TOO_LONG", "the plan's session record would not fit the board's record spool"),
)

FAULTS = (
    (1, "OVER_FORCE", "measured force above the effective limit"),
    (2, "ADC_SILENT", "no load-cell sample for more than 2 sample periods"),
    (3, "ADC_SATURATED", "load-cell reading at its rails or beyond its rating"),
    (4, "ADC_IMPLAUSIBLE", "reading stuck or jumping faster than the plant can move"),
    (5, "SLACK", "motor pulling but force not rising"),
    (6, "CABLE_SNAP", "force vanished while tensioned"),
    (7, "TRACKING", "force away from target for too long"),
    (8, "RATE", "force rising faster than the allowed rate"),
    (9, "STOP_SWITCH", "patient stop switch pressed"),
    (10, "LEASE_LOST", "host lease lapsed while tensioned"),
    (11, "ZERO_DRIFT", "unloaded reading drifted beyond the allowed offset"),
    (12, "MOTOR", "motor not following commands (stalled or ignoring)"),
    (13, "ESTOP", "emergency stop commanded by the operator"),
    (14, "RESET", "the board restarted during a session"),
    (15, "INTERNAL", "firmware error; the board stopped pulling"),
    (16, "FORCE_DISAGREE", "load cell and motor current disagree on the force beyond their band"),
    (17, "LIMIT_SWITCH", "the force-limit switch in the line tripped (it cuts the motor in hardware)"),
    (18, "TAMPERED", "the stored limits, calibration or identity fail their MAC check at boot"),
)

EVENTS = (
    (1, "STATE", "state changed; code = new state"),
    (2, "PHASE", "phase or segment changed; code = phase index, value = segment"),
    (3, "FAULT", "fault latched; code = fault, value = force in 0.1 N at the time"),
    (4, "STOP_SWITCH", "stop switch changed; code = 1 pressed, 0 released"),
    (5, "PAUSE", "treatment paused; value = force held in 0.1 N"),
    (6, "RESUME", "treatment resumed"),
    (7, "EDIT", "traction force edited; code = phase, value = new force in 0.1 N"),
    (8, "RECORD", "session record sealed and stored; value = record id"),
    (9, "FAULT_CLEARED", "fault cleared; code = fault that was latched"),
    (10, "BOOT", "board started; code = 1 after an unexpected reset, else 0"),
)

FLAG_STOP_SWITCH = 1
FLAG_CALIBRATED = 2
FLAG_MOTOR_ENABLED = 4
FLAG_RECORD_PENDING = 8
FLAG_SERVICE_JUMPER = 16

SECURITY_PROVISIONED = 1  # INFO.security bits
SECURITY_SETTINGS_OK = 2
SECURITY_REPL = 4


def _index(table):
    by_name = {}
    by_code = {}
    for code, name, _ in table:
        by_name[name] = code
        by_code[code] = name
    return by_name, by_code


STATE, STATE_NAME = _index(STATES)
MODE, MODE_NAME = _index(MODES)
REGION, REGION_NAME = _index(REGIONS)
SEGMENT, SEGMENT_NAME = _index(SEGMENTS)
ERROR, ERROR_NAME = _index(ERRORS)
FAULT, FAULT_NAME = _index(FAULTS)
EVENT, EVENT_NAME = _index(EVENTS)

# SETUP.angle_dd when the clinician entered no angle of pull: the record says null, never 0 degrees.
ANGLE_NOT_SET = 0xFFFF
