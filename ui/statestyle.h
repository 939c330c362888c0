#pragma once

#include "taskstate.h"

#include <QColor>
#include <QIcon>
#include <QString>

class QPalette;

// How a task state looks in the dashboard: its label, a colour that reads on the given
// palette (light or dark) and a small icon drawn once per state. Main thread.
class StateStyle
{
public:
    static QString label(TaskState state);
    static QColor color(TaskState state, const QPalette &palette);
    static QIcon icon(TaskState state);
    // True when the palette's base colour is dark (dark themes).
    static bool isDark(const QPalette &palette);
};
