"""An example crystaloop lab driver: a robot controller reached over a TCP socket.

``driver.RobotLab`` is the adapter crystaloop uses (registered as ``robot`` in the
``crystaloop.labs`` entry-point group); ``fake_robot.FakeRobot`` is a stand-in for the
robot's controller so that the driver can be tried and tested without hardware.
"""

from __future__ import annotations

from robot_lab_driver.driver import RobotLab, RobotLabConfig
from robot_lab_driver.fake_robot import FakeRobot

__all__ = ["FakeRobot", "RobotLab", "RobotLabConfig"]
