#pragma once

#include <QPalette>
#include <QString>

// The window's colours: the desktop's (its platform theme's palette), or Taskdeck's own
// light or dark one on Qt's Fusion style, for desktops whose theme Qt cannot read. Chosen
// under View > Colours and kept in the settings. Main thread.
namespace ColorScheme {

enum Scheme { System, Light, Dark };

// Applies `scheme` to the whole application.
void apply(Scheme scheme);
Scheme current();
// "system", "light", "dark" and back (unknown names: System).
QString name(Scheme scheme);
Scheme fromName(const QString &name);
QPalette darkPalette();

} // namespace ColorScheme
