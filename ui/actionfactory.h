#pragma once

#include <QAction>
#include <QIcon>
#include <QKeySequence>
#include <QString>

// A window's or view's action as the dashboard makes them all: `text` (with its & mnemonic),
// an object name the tests find it by, an optional shortcut shown in its tooltip, and an
// icon; owned by `parent`.
inline QAction *makeAction(QObject *parent, const QString &text, const QString &name,
                           const QKeySequence &key, const QIcon &icon)
{
    auto *action = new QAction(icon, text, parent);
    action->setObjectName(name);
    if (!key.isEmpty()) {
        action->setShortcut(key);
        action->setToolTip(QStringLiteral("%1 (%2)").arg(QString(text).remove(u'&'),
                                                         key.toString(QKeySequence::NativeText)));
    }
    return action;
}
