#pragma once

#include "tasksource.h"

#include <QMainWindow>
#include <QTimer>

#include <functional>
#include <optional>

class ActivityChart;
class CountsBar;
class LimitsPanel;
class LogPane;
class NoticeBar;
class QComboBox;
class QDockWidget;
class QLabel;
class QLineEdit;
class QListWidget;
class QMenu;
class QSplitter;
class StackPane;
class TaskFilterProxyModel;
class TaskItemDelegate;
class TaskTableModel;
class TaskView;

// The dashboard window over a task source (the local engine, or a cluster): observes it
// through its batches and asynchronous look-ups, and talks to it through its commands;
// nothing it does waits for the place where tasks run. Main thread.
class MainWindow : public QMainWindow
{
    Q_OBJECT
public:
    // Ticks of the window's one repaint timer: the chart samples and the throughput
    // every tick, the live durations and cancel countdowns every fourth (1 s).
    static constexpr int TickMs = 250;

    explicit MainWindow(TaskSource *source, QWidget *parent = nullptr);
    ~MainWindow() override;

    // Loads and submits script files, folders expanded to the files in them (recursively);
    // rejected files are listed with their reasons in the "Rejected files" panel.
    // Returns the number of tasks submitted.
    int submitFiles(const QStringList &files);

    // Applies one batch of the source (what TaskSource::batch does).
    void applyBatch(const TaskSourceBatch &batch);
    // Applies the engine part of a batch (public for the benchmark's synthetic feed).
    void applyUpdate(const EngineUpdate &update);

    // Window layout, columns and limits, from and to QSettings. restoreSettings() also
    // turns on saving them when the window closes; a window that never restored (tests)
    // never writes the user's settings.
    void restoreSettings();
    void saveSettings() const;

    // The tasks the user removes from the table (TaskView's "Clear finished", and the
    // failed rows "Retry failed" replaces) are forgotten by the source (its store) too, so
    // that they do not come back on the next start. While the source cannot keep what it
    // is given (TaskSource::keepProblem(): a store that cannot write), an error stands at
    // the top of the window (see storeErrorKey) until it can again.

    // Shows `text` (plain text) in a notice at the top of the window until the user
    // dismisses it: problems with the store, what came back after a restart. Notices
    // stack, each with its own close button.
    void showNotice(const QString &text);
    NoticeBar *noticeBar() const { return m_notices; }
    // The key of the store's error in the notice bar.
    static constexpr const char *storeErrorKey = "store";

    // Pauses or resumes one group, as its "Paused" box in the limits panel does; pausing
    // shows the panel so that the user sees why the group's tasks wait.
    void setGroupPaused(const QString &group, bool paused);
    // Shows the limits panel (groups paused after a restart: the user decides).
    void showLimits();

    // The task table, which owns the task actions, the selection and export.
    TaskView *taskView() const { return m_view; }
    TaskTableModel *taskModel() const;
    TaskFilterProxyModel *filterModel() const;
    TaskItemDelegate *taskDelegate() const;
    QMenu *taskContextMenu() const;
    StackPane *stackPane() const { return m_stack; }
    LogPane *logPane() const { return m_log; }
    LimitsPanel *limitsPanel() const { return m_limits; }
    CountsBar *countsBar() const { return m_countsBar; }
    QListWidget *rejectedFiles() const { return m_rejected; }
    QDockWidget *rejectedFilesDock() const { return m_rejectedDock; }

public Q_SLOTS:
    void openFiles();
    void openFolder();
    void setPaused(bool paused);

protected:
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dragMoveEvent(QDragMoveEvent *event) override;
    void dropEvent(QDropEvent *event) override;
    void closeEvent(QCloseEvent *event) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void createActions();
    QWidget *createFilterBar();
    void reject(const QStringList &reasons);
    void tick();
    void updateStatus();
    // Shows, updates or clears the store's error to match its writeProblem().
    void updateStoreProblem();
    // Handles a drag or drop of files wherever it lands in the window.
    bool handleFileDrag(QEvent *event);

    TaskSource *m_source;
    QString m_storeProblem; // as shown
    TaskView *m_view;
    CountsBar *m_countsBar;
    ActivityChart *m_chart;
    StackPane *m_stack;
    LogPane *m_log;
    LimitsPanel *m_limits;
    QDockWidget *m_limitsDock;
    QDockWidget *m_rejectedDock;
    QListWidget *m_rejected;
    QSplitter *m_splitter;
    QSplitter *m_bottomSplitter;
    QLineEdit *m_filterText;
    QComboBox *m_filterState;
    QComboBox *m_filterGroup;
    QLabel *m_statusTasks;
    QLabel *m_statusPaused;
    NoticeBar *m_notices;
    QAction *m_pauseAction = nullptr;
    QTimer m_tick;
    int m_ticks = 0;
    EngineCounts m_counts;
    bool m_saveOnClose = false;
};
