"""quietday: schedules enterprise inspections around quiet days (企业安静日), caps and joint visits."""

__version__ = "0.1.0"
