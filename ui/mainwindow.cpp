#include "mainwindow.h"

#include "actionfactory.h"
#include "activitychart.h"
#include "colorscheme.h"
#include "columnchooser.h"
#include "countsbar.h"
#include "dropoverlay.h"
#include "limitspanel.h"
#include "logpane.h"
#include "noticebar.h"
#include "quitdialog.h"
#include "stackpane.h"
#include "statestyle.h"
#include "statspanel.h"
#include "submission.h"
#include "taskfilterproxymodel.h"
#include "tasktablemodel.h"
#include "taskview.h"
#include "trayicon.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScreen>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QToolBar>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace {

qint64 steadyMs()
{
    static QElapsedTimer clock;
    if (!clock.isValid())
        clock.start();
    return clock.elapsed();
}

QIcon appIcon()
{
    QIcon icon;
    // The SVG when Qt's SVG plugin is there; the PNG renderings of it in any case.
    icon.addFile(QStringLiteral(":/icons/taskdeck.svg"));
    for (int size : {32, 64, 256})
        icon.addFile(QStringLiteral(":/icons/taskdeck-%1.png").arg(size), QSize(size, size));
    return icon;
}

// Local files named by a drag, or none.
QStringList localFiles(const QMimeData *mime)
{
    QStringList files;
    if (!mime || !mime->hasUrls())
        return files;
    for (const QUrl &url : mime->urls())
        if (url.isLocalFile())
            files.append(url.toLocalFile());
    return files;
}

} // namespace

MainWindow::MainWindow(TaskSource *source, QWidget *parent)
    : QMainWindow(parent)
    , m_source(source)
    , m_view(new TaskView(source, this))
    , m_countsBar(new CountsBar(this))
    , m_chart(new ActivityChart(this))
    , m_stack(new StackPane(source, this))
    , m_log(new LogPane(source, this))
    , m_limits(new LimitsPanel(source, this))
    , m_limitsDock(new QDockWidget(tr("Limits"), this))
    , m_rejectedDock(new QDockWidget(tr("Rejected files"), this))
    , m_rejected(new QListWidget(this))
    , m_splitter(new QSplitter(Qt::Vertical, this))
    , m_bottomSplitter(new QSplitter(Qt::Horizontal, this))
    , m_statusTasks(new QLabel(this))
    , m_statusPaused(new QLabel(this))
    , m_notices(new NoticeBar(this))
{
    setWindowTitle(tr("Taskdeck"));
    setWindowIcon(appIcon());
    setAcceptDrops(true);
    setDockOptions(QMainWindow::AnimatedDocks | QMainWindow::AllowTabbedDocks);

    // The table: the panes show its current task.
    connect(m_view, &TaskView::currentTaskChanged, this, [this](std::optional<TaskId> id) {
        m_stack->setTask(id);
        m_log->setTask(id);
    });
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &MainWindow::updateStatus);
    connect(m_view, &TaskView::statusMessage, statusBar(), &QStatusBar::showMessage);
    connect(m_view, &TaskView::filesRejected, this, &MainWindow::reject);
    connect(m_view, &TaskView::tasksRemoved, this, &MainWindow::updateStatus);
    m_view->setPauseState([this] { return m_limits->isPaused(); },
                          [this] { return m_limits->pausedGroups(); });

    // Counts and chart above the table, filters, then table over stack and log.
    auto *top = new QWidget(this);
    auto *topLayout = new QHBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    auto *countsAndFilters = new QVBoxLayout;
    countsAndFilters->addWidget(m_countsBar);
    countsAndFilters->addWidget(createFilterBar());
    topLayout->addLayout(countsAndFilters, 3);
    topLayout->addWidget(m_chart, 2);
    m_chart->setSampleIntervalMs(TickMs);

    m_bottomSplitter->setObjectName(QStringLiteral("detailSplitter"));
    m_bottomSplitter->addWidget(m_stack);
    m_bottomSplitter->addWidget(m_log);
    m_bottomSplitter->setStretchFactor(0, 3);
    m_bottomSplitter->setStretchFactor(1, 2);

    m_splitter->setObjectName(QStringLiteral("mainSplitter"));
    m_splitter->addWidget(m_view);
    m_splitter->addWidget(m_bottomSplitter);
    m_splitter->setStretchFactor(0, 3);
    m_splitter->setStretchFactor(1, 2);
    m_splitter->setChildrenCollapsible(false);

    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    layout->setContentsMargins(6, 4, 6, 0);
    layout->setSpacing(4);
    layout->addWidget(m_notices);
    layout->addWidget(top);
    layout->addWidget(m_splitter, 1);
    setCentralWidget(central);
    m_dropOverlay = new DropOverlay(this);

    // Docks: the limits editor, and the files that could not be queued.
    m_limitsDock->setObjectName(QStringLiteral("limitsDock"));
    m_limitsDock->setWidget(m_limits);
    addDockWidget(Qt::RightDockWidgetArea, m_limitsDock);
    connect(taskModel(), &TaskTableModel::groupAdded, m_limits, &LimitsPanel::addGroup);
    connect(m_limits, &LimitsPanel::pausedChanged, this, [this](bool paused) {
        if (m_pauseAction)
            m_pauseAction->setChecked(paused);
        updateStatus();
    });
    connect(m_limits, &LimitsPanel::groupPausedChanged, this, &MainWindow::updateStatus);

    // Throughput and per-group timings, under the limits.
    m_stats = new StatsPanel(this);
    auto *statsDock = new QDockWidget(tr("Throughput and timings"), this);
    statsDock->setObjectName(QStringLiteral("statsDock"));
    statsDock->setWidget(m_stats);
    addDockWidget(Qt::RightDockWidgetArea, statsDock);
    splitDockWidget(m_limitsDock, statsDock, Qt::Vertical);

    m_rejected->setObjectName(QStringLiteral("rejectedFiles"));
    m_rejected->setAlternatingRowColors(true);
    m_rejected->setWordWrap(true);
    auto *rejectedBox = new QWidget(this);
    auto *rejectedLayout = new QVBoxLayout(rejectedBox);
    rejectedLayout->setContentsMargins(4, 4, 4, 4);
    rejectedLayout->addWidget(m_rejected, 1);
    auto *clearRejected = new QPushButton(tr("Clear list"), rejectedBox);
    rejectedLayout->addWidget(clearRejected, 0, Qt::AlignRight);
    connect(clearRejected, &QPushButton::clicked, m_rejected, &QListWidget::clear);
    m_rejectedDock->setObjectName(QStringLiteral("rejectedFilesDock"));
    m_rejectedDock->setWidget(rejectedBox);
    addDockWidget(Qt::RightDockWidgetArea, m_rejectedDock);
    m_rejectedDock->hide();

    createActions();

    m_statusTasks->setObjectName(QStringLiteral("statusTasks"));
    m_statusPaused->setObjectName(QStringLiteral("statusPaused"));
    statusBar()->addPermanentWidget(m_statusPaused);
    statusBar()->addPermanentWidget(m_statusTasks);
    statusBar()->showMessage(tr("Drop task scripts or folders anywhere on the window, "
                                "or use File > Open (Ctrl+O)"));

    connect(m_source, &TaskSource::batch, this, &MainWindow::applyBatch);
    m_view->setColumnHidden(TaskTableModel::Worker, !m_source->hasWorkers()); // a cluster's
    m_limits->applyLimits(m_source->limits()); // the source's first batch may be on its way
    m_tick.setInterval(TickMs);
    connect(&m_tick, &QTimer::timeout, this, &MainWindow::tick);
    m_tick.start();
    // Files dropped on any child (the table, the panes, the filter box) land here.
    qApp->installEventFilter(this);
    updateStatus();
    updateStoreProblem();
    resizeDocks({m_limitsDock}, {330}, Qt::Horizontal);
    QSize size(1600, 1000);
    if (const QScreen *screen = QGuiApplication::primaryScreen())
        size = size.boundedTo(screen->availableSize());
    resize(size);
    // The table is what is looked at most: about two thirds of the height to start with.
    m_splitter->setSizes({size.height() * 2 / 3, size.height() / 3});
    if (size.width() < 1280) {
        // A small screen: the docks share one narrow column, and the table starts without
        // the columns read least (View > Columns brings them back), so that the result or
        // error shows.
        tabifyDockWidget(m_limitsDock, statsDock);
        m_limitsDock->raise();
        resizeDocks({m_limitsDock}, {220}, Qt::Horizontal);
        for (int column : {TaskTableModel::Attempt, TaskTableModel::Started})
            m_view->horizontalHeader()->hideSection(column);
    }
}

MainWindow::~MainWindow()
{
    qApp->removeEventFilter(this);
    // The table goes after this object's own part: nothing it says reaches it any more.
    disconnect(m_view, nullptr, this, nullptr);
    disconnect(m_view->selectionModel(), nullptr, this, nullptr);
}

QWidget *MainWindow::createFilterBar()
{
    auto *bar = new QWidget(this);
    auto *layout = new QHBoxLayout(bar);
    layout->setContentsMargins(0, 0, 0, 0);
    m_filterText = new QLineEdit(bar);
    m_filterText->setObjectName(QStringLiteral("filterText"));
    m_filterText->setPlaceholderText(
        tr("Filter by id, name, group, file, result or error (Ctrl+F)"));
    m_filterText->setClearButtonEnabled(true);
    m_filterState = new QComboBox(bar);
    m_filterState->setObjectName(QStringLiteral("filterState"));
    using F = TaskFilterProxyModel::StateFilter;
    const std::pair<QString, F> states[] = {
        {tr("All states"), F::All},      {tr("Unfinished"), F::Active},
        {tr("Pending"), F::Pending},     {tr("Running"), F::Running},
        {tr("Failed"), F::Failed},       {tr("Succeeded"), F::Succeeded},
        {tr("Cancelled"), F::Cancelled}, {tr("Interrupted"), F::Interrupted},
        {tr("Finished"), F::Finished},
    };
    for (const auto &[label, filter] : states)
        m_filterState->addItem(label, int(filter));
    m_filterGroup = new QComboBox(bar);
    m_filterGroup->setObjectName(QStringLiteral("filterGroup"));
    m_filterGroup->addItem(tr("All groups"), QString());
    m_filterGroup->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    layout->addWidget(m_filterText, 1);
    layout->addWidget(m_filterState);
    layout->addWidget(m_filterGroup);

    connect(m_filterText, &QLineEdit::textChanged, filterModel(), &TaskFilterProxyModel::setText);
    connect(m_filterState, &QComboBox::currentIndexChanged, this, [this](int i) {
        filterModel()->setStateFilter(
            TaskFilterProxyModel::StateFilter(m_filterState->itemData(i).toInt()));
        updateStatus();
    });
    connect(m_filterGroup, &QComboBox::currentIndexChanged, this, [this](int i) {
        filterModel()->setGroup(m_filterGroup->itemData(i).toString());
        updateStatus();
    });
    connect(m_filterText, &QLineEdit::textChanged, this, &MainWindow::updateStatus);
    connect(taskModel(), &TaskTableModel::groupAdded, this, [this](const QString &group) {
        int at = 1;
        while (at < m_filterGroup->count() && m_filterGroup->itemText(at) < group)
            ++at;
        m_filterGroup->insertItem(at, group, group);
    });
    return bar;
}

void MainWindow::createActions()
{
    QStyle *s = style();
    const auto add = [this](QMenu *menu, const QString &text, const QString &name,
                            const QKeySequence &key, const QIcon &icon, auto slot) {
        QAction *action = makeAction(this, text, name, key, icon);
        connect(action, &QAction::triggered, this, slot);
        menu->addAction(action);
        return action;
    };

    QMenu *file = menuBar()->addMenu(tr("&File"));
    QAction *open =
        add(file, tr("&Open scripts…"), QStringLiteral("actionOpen"), QKeySequence::Open,
            s->standardIcon(QStyle::SP_DialogOpenButton), &MainWindow::openFiles);
    add(file, tr("Open &folder…"), QStringLiteral("actionOpenFolder"),
        QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O), s->standardIcon(QStyle::SP_DirOpenIcon),
        &MainWindow::openFolder);
    file->addAction(m_view->action(TaskView::Export));
    file->addSeparator();
    QAction *quit = add(file, tr("&Quit"), QStringLiteral("actionQuit"),
                        QKeySequence(Qt::CTRL | Qt::Key_Q), QIcon(), &QWidget::close);

    // The task actions are the table's.
    QMenu *tasks = menuBar()->addMenu(tr("&Tasks"));
    const auto taskAction = [this](TaskView::Action which) { return m_view->action(which); };
    for (TaskView::Action which : {TaskView::Cancel, TaskView::CancelPending, TaskView::CancelAll})
        tasks->addAction(taskAction(which));
    tasks->addSeparator();
    for (TaskView::Action which :
         {TaskView::MoveToTop, TaskView::MoveToBottom, TaskView::RaisePriority,
          TaskView::LowerPriority, TaskView::EditPriority, TaskView::RunAfter})
        tasks->addAction(taskAction(which));
    tasks->addSeparator();
    for (TaskView::Action which : {TaskView::RetryFailed, TaskView::Rerun, TaskView::ClearFinished})
        tasks->addAction(taskAction(which));

    QMenu *queue = menuBar()->addMenu(tr("&Queue"));
    m_pauseAction = new QAction(s->standardIcon(QStyle::SP_MediaPause), tr("&Pause queue"), this);
    m_pauseAction->setObjectName(QStringLiteral("actionPause"));
    m_pauseAction->setCheckable(true);
    m_pauseAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
    m_pauseAction->setToolTip(tr("Pause or resume the queue (Ctrl+P): running tasks go on"));
    connect(m_pauseAction, &QAction::toggled, this, &MainWindow::setPaused);
    queue->addAction(m_pauseAction);
    m_tray = new TrayIcon(this, m_pauseAction, quit);
    QAction *limits = m_limitsDock->toggleViewAction();
    limits->setText(tr("&Limits"));
    limits->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    queue->addAction(limits);

    QMenu *view = menuBar()->addMenu(tr("&View"));
    add(view, tr("&Filter"), QStringLiteral("actionFilter"), QKeySequence::Find, QIcon(), [this] {
        m_filterText->setFocus();
        m_filterText->selectAll();
    });
    add(view, tr("Show &table"), QStringLiteral("actionFocusTable"),
        QKeySequence(Qt::CTRL | Qt::Key_1), QIcon(), [this] { m_view->setFocus(); });
    add(view, tr("Show &stack"), QStringLiteral("actionFocusStack"),
        QKeySequence(Qt::CTRL | Qt::Key_2), QIcon(), [this] { m_stack->tree()->setFocus(); });
    add(view, tr("Show l&og"), QStringLiteral("actionFocusLog"), QKeySequence(Qt::CTRL | Qt::Key_3),
        QIcon(), [this] { m_log->view()->setFocus(); });
    view->addMenu(m_view->columnChooser()->menu());
    QMenu *colours = view->addMenu(tr("C&olours"));
    colours->setObjectName(QStringLiteral("colourMenu"));
    auto *schemes = new QActionGroup(this);
    for (const auto &[scheme, text] :
         {std::pair{ColorScheme::System, tr("&Desktop's")},
          std::pair{ColorScheme::Light, tr("&Light")}, std::pair{ColorScheme::Dark, tr("D&ark")}}) {
        QAction *action = colours->addAction(text);
        action->setObjectName(QStringLiteral("colours_") + ColorScheme::name(scheme));
        action->setCheckable(true);
        action->setChecked(scheme == ColorScheme::current());
        schemes->addAction(action);
        connect(action, &QAction::triggered, this, [s = scheme] { ColorScheme::apply(s); });
    }
    view->addAction(m_view->action(TaskView::Details));
    QAction *rejected = m_rejectedDock->toggleViewAction();
    rejected->setText(tr("&Rejected files"));
    rejected->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_J));
    view->addAction(rejected);

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    add(help, tr("&Keyboard shortcuts"), QStringLiteral("actionShortcuts"),
        QKeySequence::HelpContents, QIcon(), [this] {
            QStringList lines;
            for (QAction *a : findChildren<QAction *>())
                if (!a->shortcut().isEmpty() && !a->text().isEmpty())
                    lines.append(QStringLiteral("%1\t%2").arg(
                        a->shortcut().toString(QKeySequence::NativeText),
                        QString(a->text()).remove(u'&').remove(u'…')));
            lines.sort();
            QMessageBox::information(this, tr("Keyboard shortcuts"), lines.join(u'\n'));
        });
    add(help, tr("&About Taskdeck"), QStringLiteral("actionAbout"), QKeySequence(), QIcon(),
        [this] {
            QMessageBox::about(this, tr("About Taskdeck"),
                               tr("<b>Taskdeck %1</b><p>A task queue and live task monitor.</p>")
                                   .arg(QCoreApplication::applicationVersion()));
        });

    QToolBar *bar = addToolBar(tr("Main"));
    bar->setObjectName(QStringLiteral("mainToolBar"));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->setIconSize(QSize(16, 16));
    bar->addAction(open);
    bar->addSeparator();
    bar->addAction(taskAction(TaskView::Cancel));
    bar->addAction(taskAction(TaskView::CancelPending));
    bar->addAction(m_pauseAction);
    bar->addSeparator();
    bar->addAction(taskAction(TaskView::MoveToTop));
    bar->addAction(taskAction(TaskView::MoveToBottom));
    bar->addSeparator();
    bar->addAction(taskAction(TaskView::RetryFailed));
    bar->addAction(taskAction(TaskView::Rerun));
    bar->addAction(taskAction(TaskView::ClearFinished));
}

TaskTableModel *MainWindow::taskModel() const
{
    return m_view->taskModel();
}

TaskFilterProxyModel *MainWindow::filterModel() const
{
    return m_view->filterModel();
}

TaskItemDelegate *MainWindow::taskDelegate() const
{
    return m_view->taskDelegate();
}

QMenu *MainWindow::taskContextMenu() const
{
    return m_view->contextMenu();
}

// ---- files ----

int MainWindow::submitFiles(const QStringList &files)
{
    const Submission submission = Submission::load(files);
    submission.queueOn(*m_source);
    const int queued = int(submission.taskCount());
    const QStringList &rejected = submission.rejections();
    reject(rejected);
    if (!files.isEmpty())
        statusBar()->showMessage(rejected.isEmpty()
                                     ? tr("Queued %n task(s)", nullptr, queued)
                                     : tr("Queued %n task(s); %1 file(s) rejected", nullptr, queued)
                                           .arg(rejected.size()),
                                 8000);
    return queued;
}

void MainWindow::reject(const QStringList &reasons)
{
    if (reasons.isEmpty())
        return;
    const QIcon icon = StateStyle::icon(TaskState::Failed);
    for (const QString &reason : reasons) {
        auto *item = new QListWidgetItem(icon, reason, m_rejected);
        item->setToolTip(reason);
    }
    m_rejected->scrollToBottom();
    m_rejectedDock->show();
    m_rejectedDock->raise();
}

void MainWindow::openFiles()
{
    const QStringList files =
        QFileDialog::getOpenFileNames(this, tr("Open task scripts"), QString(),
                                      tr("Task scripts (*.lua *.sh *.py);;All files (*)"));
    submitFiles(files);
}

void MainWindow::openFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a folder of scripts"));
    if (!dir.isEmpty())
        submitFiles({dir});
}

bool MainWindow::handleFileDrag(QEvent *event)
{
    switch (event->type()) {
    case QEvent::DragEnter:
    case QEvent::DragMove: {
        auto *drag = static_cast<QDragMoveEvent *>(event);
        const QStringList files = localFiles(drag->mimeData());
        if (files.isEmpty())
            return false;
        drag->setDropAction(Qt::CopyAction);
        drag->accept();
        if (!m_dropOverlay->isVisible())
            m_dropOverlay->showFor(int(files.size()));
        return true;
    }
    case QEvent::DragLeave: {
        // Into another child, the next DragMove shows it again.
        m_dropOverlay->hide();
        return false;
    }
    case QEvent::Drop: {
        auto *drop = static_cast<QDropEvent *>(event);
        m_dropOverlay->hide();
        const QStringList files = localFiles(drop->mimeData());
        if (files.isEmpty())
            return false;
        drop->setDropAction(Qt::CopyAction);
        drop->accept();
        submitFiles(files);
        return true;
    }
    default:
        return false;
    }
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (!handleFileDrag(event))
        event->ignore();
}

void MainWindow::dragMoveEvent(QDragMoveEvent *event)
{
    if (!handleFileDrag(event))
        event->ignore();
}

void MainWindow::dragLeaveEvent(QDragLeaveEvent *event)
{
    handleFileDrag(event);
    QMainWindow::dragLeaveEvent(event);
}

void MainWindow::dropEvent(QDropEvent *event)
{
    if (!handleFileDrag(event))
        event->ignore();
}

bool MainWindow::eventFilter(QObject *watched, QEvent *event)
{
    const auto type = event->type();
    // A narrow window keeps every toolbar button by showing icons alone.
    if (watched == this && type == QEvent::Resize)
        if (auto *bar = findChild<QToolBar *>(QStringLiteral("mainToolBar")))
            bar->setToolButtonStyle(width() < 1280 ? Qt::ToolButtonIconOnly
                                                   : Qt::ToolButtonTextBesideIcon);
    if ((type == QEvent::DragEnter || type == QEvent::DragMove || type == QEvent::Drop ||
         type == QEvent::DragLeave) &&
        watched != this) {
        auto *widget = qobject_cast<QWidget *>(watched);
        if (widget && widget->window() == this && handleFileDrag(event))
            return true;
    }
    return QMainWindow::eventFilter(watched, event);
}

// ---- the source's batches ----

void MainWindow::applyBatch(const TaskSourceBatch &batch)
{
    if (batch.update.limits)
        m_limits->applyLimits(*batch.update.limits);
    m_log->applyWatched(batch.watched);
    applyUpdate(batch.update);
    m_stack->applyWatched(batch.watched);
    // A cluster's connection (disconnected since...), and what it could not do.
    if (batch.status == TaskSourceStatus::Disconnected)
        m_notices->setError(QStringLiteral("source"), batch.statusText);
    else
        m_notices->clearError(QStringLiteral("source"));
    for (const QString &text : batch.notices)
        showNotice(text);
}

void MainWindow::applyUpdate(const EngineUpdate &update)
{
    m_counts = update.counts;
    if (m_quitWhenIdle && m_counts.running == 0) {
        m_quitWhenIdle = false;
        m_quitting = true;
        QMetaObject::invokeMethod(this, &QWidget::close, Qt::QueuedConnection);
    }
    m_view->applyUpdate(update);
    m_countsBar->setCounts(update.counts, steadyMs());
    m_tray->applyUpdate(update);
    m_stats->applyUpdate(update);
    m_log->appendLogs(update.logs);
    if (m_limitsDock->isVisible())
        m_limits->updateCounts(taskModel()->groups());
    updateStatus();
}

void MainWindow::tick()
{
    ++m_ticks;
    updateStoreProblem();
    m_chart->addSample(m_counts);
    m_countsBar->setCounts(m_counts, steadyMs());
    if (m_ticks % 4 == 0)
        m_view->refreshLive();
}

void MainWindow::updateStatus()
{
    const int shown = filterModel()->rowCount();
    const int total = taskModel()->rowCount();
    const int selected = int(m_view->selectionModel()->selectedRows().size());
    QString text = shown == total ? tr("%n task(s)", nullptr, total)
                                  : tr("%1 of %n task(s) shown", nullptr, total).arg(shown);
    if (selected > 1)
        text += tr(", %1 selected").arg(selected);
    if (taskModel()->queuedCount() > 0)
        text += tr(" (+%1 arriving)").arg(taskModel()->queuedCount());
    m_statusTasks->setText(text);
    const QStringList groups = m_limits->pausedGroups();
    const QString groupList = groups.join(QStringLiteral(", "));
    // A notice that groups are paused goes once they are all resumed.
    for (qsizetype i = m_pausedNotices.size() - 1; i >= 0; --i) {
        const auto &[text, noticeGroups] = m_pausedNotices[i];
        if (std::any_of(noticeGroups.cbegin(), noticeGroups.cend(),
                        [&groups](const QString &g) { return groups.contains(g); }))
            continue;
        if (const qsizetype shown = m_notices->notices().indexOf(text); shown >= 0)
            m_notices->dismiss(int(shown));
        m_pausedNotices.removeAt(i);
    }
    QString paused;
    if (m_limits->isPaused())
        paused = groups.isEmpty()
                     ? tr("Queue paused")
                     : tr("Queue paused; group(s) %1 paused", nullptr, int(groups.size()))
                           .arg(groupList);
    else if (!groups.isEmpty())
        paused = tr("Group(s) %1 paused", nullptr, int(groups.size())).arg(groupList);
    m_statusPaused->setText(paused);
    m_statusPaused->setToolTip(groups.isEmpty() ? QString()
                                                : tr("Resume a group in Queue > Limits (Ctrl+L)"));
    m_view->updateActions();
}

void MainWindow::updateStoreProblem()
{
    const QString problem = m_source->keepProblem();
    if (problem == m_storeProblem)
        return;
    m_storeProblem = problem;
    const QString key = QString::fromLatin1(storeErrorKey);
    if (problem.isEmpty()) {
        m_notices->clearError(key);
        return;
    }
    m_notices->setError(key, tr("Tasks are not being saved: %1. They run, but what is not "
                                "saved is lost if Taskdeck stops; Taskdeck keeps trying, "
                                "and this goes away once the store writes again.")
                                 .arg(problem));
}

void MainWindow::showNotice(const QString &text)
{
    m_notices->addNotice(text);
}

void MainWindow::showPausedGroupsNotice(const QString &text, const QStringList &groups)
{
    m_notices->addNotice(text);
    m_pausedNotices.append({text, groups});
}

void MainWindow::setGroupPaused(const QString &group, bool paused)
{
    m_limits->setGroupPaused(group, paused);
    if (paused)
        showLimits();
    updateStatus();
}

void MainWindow::showLimits()
{
    m_limitsDock->show();
    m_limitsDock->raise();
}

void MainWindow::setPaused(bool paused)
{
    // The limits panel tells the source and shows what it says; the action mirrors it.
    m_limits->setPaused(paused);
    if (!paused)
        m_quitWhenIdle = false; // resuming is staying
    if (m_pauseAction && m_pauseAction->isChecked() != paused)
        m_pauseAction->setChecked(paused);
}

// ---- settings ----

void MainWindow::restoreSettings(bool limits)
{
    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    m_splitter->restoreState(settings.value(QStringLiteral("window/splitter")).toByteArray());
    m_bottomSplitter->restoreState(
        settings.value(QStringLiteral("window/detailSplitter")).toByteArray());
    m_view->horizontalHeader()->restoreState(
        settings.value(QStringLiteral("table/header")).toByteArray());
    m_view->setColumnHidden(TaskTableModel::Worker, !m_source->hasWorkers());
    m_saveOnClose = true;
    if (const auto scheme =
            ColorScheme::fromName(settings.value(QStringLiteral("view/colours")).toString());
        scheme != ColorScheme::System) {
        ColorScheme::apply(scheme);
        if (auto *action =
                findChild<QAction *>(QStringLiteral("colours_") + ColorScheme::name(scheme)))
            action->setChecked(true);
    }
    if (!limits)
        return;
    if (settings.contains(QStringLiteral("limits/maxRunning")))
        m_limits->setMaxRunning(settings.value(QStringLiteral("limits/maxRunning")).toInt());
    settings.beginGroup(QStringLiteral("limits/groups"));
    for (const QString &group : settings.childKeys())
        m_limits->setGroupLimit(QUrl::fromPercentEncoding(group.toUtf8()),
                                settings.value(group).toInt());
    settings.endGroup();
}

void MainWindow::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/splitter"), m_splitter->saveState());
    settings.setValue(QStringLiteral("window/detailSplitter"), m_bottomSplitter->saveState());
    settings.setValue(QStringLiteral("table/header"), m_view->horizontalHeader()->saveState());
    settings.setValue(QStringLiteral("view/colours"), ColorScheme::name(ColorScheme::current()));
    settings.setValue(QStringLiteral("limits/maxRunning"), m_limits->maxRunning());
    settings.remove(QStringLiteral("limits/groups"));
    settings.beginGroup(QStringLiteral("limits/groups"));
    for (const QString &group : m_limits->groups())
        if (const int limit = m_limits->groupLimit(group); limit > 0)
            settings.setValue(QString::fromLatin1(QUrl::toPercentEncoding(group)), limit);
    settings.endGroup();
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    // Running tasks: the user says what becomes of them before anything is closed.
    if (m_confirmQuit && !m_quitting && m_counts.running > 0) {
        switch (QuitDialog::ask(m_counts.running, this)) {
        case QuitDialog::Stay:
            event->ignore();
            return;
        case QuitDialog::Wait:
            setPaused(true);
            m_quitWhenIdle = true;
            statusBar()->showMessage(tr("Quitting once the running tasks end (the queue is "
                                        "paused); resume the queue (Ctrl+P) to stay"));
            event->ignore();
            return;
        case QuitDialog::CancelThem: {
            setPaused(true);
            QList<TaskId> running;
            for (int r = 0; r < taskModel()->rowCount(); ++r)
                if (taskModel()->row(r).state == TaskState::Running)
                    running.append(taskModel()->row(r).id);
            m_source->cancel(running);
            m_quitWhenIdle = true;
            statusBar()->showMessage(tr("Quitting once the cancelled tasks have cleaned up"));
            event->ignore();
            return;
        }
        case QuitDialog::QuitNow:
            break;
        }
    }
    m_quitting = true;
    if (m_saveOnClose)
        saveSettings();
    QMainWindow::closeEvent(event);
}
