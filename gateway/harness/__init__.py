"""The test harness: plays fixture messages with their expected outcomes and reports."""
