#pragma once

#include "tasksnapshot.h"

#include <QObject>

class QAction;
class QMenu;
class QSystemTrayIcon;
class QWidget;

// The dashboard in the system tray: the counts in its tooltip, a menu to show the window,
// pause the queue or quit, and desktop notifications when tasks fail or the queue empties.
// Tasks that end within `minRunMs` (10 s by default) notify nothing: a flood of quick tasks
// is not a stream of pop-ups. Without a tray (no status notifier host) it still tracks and
// signals, and shows nothing. Main thread.
class TrayIcon : public QObject
{
    Q_OBJECT
public:
    static constexpr qint64 DefaultMinRunMs = 10000;

    explicit TrayIcon(QWidget *window, QAction *pause = nullptr, QAction *quit = nullptr);

    // Applies one batch of the source: counts into the tooltip, notifications.
    void applyUpdate(const EngineUpdate &update);
    void setMinRunMs(qint64 ms) { m_minRunMs = ms; }
    void setNotificationsEnabled(bool on) { m_enabled = on; }
    QString toolTip() const { return m_toolTip; }
    QSystemTrayIcon *icon() const { return m_icon; }

    // "3 running, 12 pending, 2 failed": the counts as the counts bar defines them.
    static QString describe(const EngineCounts &counts);

Q_SIGNALS:
    // A desktop notification (shown by the tray when there is one).
    void notified(const QString &title, const QString &text);

private:
    void notify(const QString &title, const QString &text);

    QWidget *m_window;
    QSystemTrayIcon *m_icon;
    QMenu *m_menu;
    QString m_toolTip;
    qint64 m_minRunMs = DefaultMinRunMs;
    bool m_enabled = true;
    EngineCounts m_last;
    qint64 m_busySinceMs = -1; // when the queue last went from empty to busy
    int m_finishedAtBusy = 0;  // finished count then, to tell what this run did
    int m_failedAtBusy = 0;
};
